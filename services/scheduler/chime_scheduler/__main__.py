import sys
from collections.abc import Sequence

from chime_kit.service import ServiceCli
from chime_scheduler.adapters.postgres import projections
from chime_scheduler.entrypoints.preview import add_preview, run_preview
from chime_scheduler.settings import SchedulerSettings

CLI = ServiceCli(
    service="scheduler",
    app_factory="chime_scheduler.entrypoints.app:create_app",
    migrations_package="chime_scheduler.migrations",
    settings=SchedulerSettings,
    projections=projections,
)


def main(argv: Sequence[str] | None = None) -> int:
    """The service's commands, and `preview`, which needs no settings, database or broker."""
    args = CLI.parser(add_preview).parse_args(argv)
    if args.command == "preview":
        return run_preview(args)
    return CLI.run(args)


if __name__ == "__main__":
    sys.exit(main())
