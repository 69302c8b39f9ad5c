from chime_api.entrypoints.cli import main

raise SystemExit(main())
