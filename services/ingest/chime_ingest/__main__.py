from chime_ingest.entrypoints.cli import CLI, main

__all__ = ["CLI"]

if __name__ == "__main__":
    raise SystemExit(main())
