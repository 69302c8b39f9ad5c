from chime_ingest.adapters.postgres import projections
from chime_ingest.settings import IngestSettings
from chime_kit.service import ServiceCli

CLI = ServiceCli(
    service="ingest",
    app_factory="chime_ingest.entrypoints.app:create_app",
    migrations_package="chime_ingest.migrations",
    settings=IngestSettings,
    projections=projections,
)

if __name__ == "__main__":
    raise SystemExit(CLI.main())
