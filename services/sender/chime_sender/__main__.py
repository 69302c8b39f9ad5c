from chime_kit.service import ServiceCli
from chime_sender.settings import SenderSettings

CLI = ServiceCli(
    service="sender",
    app_factory="chime_sender.entrypoints.app:create_app",
    migrations_package="chime_sender.migrations",
    settings=SenderSettings,
)

if __name__ == "__main__":
    raise SystemExit(CLI.main())
