from chime_kit.service import ServiceCli
from chime_scheduler.adapters.postgres import projections
from chime_scheduler.settings import SchedulerSettings

CLI = ServiceCli(
    service="scheduler",
    app_factory="chime_scheduler.entrypoints.app:create_app",
    migrations_package="chime_scheduler.migrations",
    settings=SchedulerSettings,
    projections=projections,
)

if __name__ == "__main__":
    raise SystemExit(CLI.main())
