from chime_kit.service import ServiceCli
from chime_sender.adapters.projections import projections
from chime_sender.settings import SERVICE, SenderSettings

CLI = ServiceCli(
    service=SERVICE,
    app_factory="chime_sender.entrypoints.app:create_app",
    migrations_package="chime_sender.migrations",
    settings=SenderSettings,
    projections=projections,
)

if __name__ == "__main__":
    raise SystemExit(CLI.main())
