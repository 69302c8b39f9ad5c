"""The scheduler process: ops endpoints; its lifespan runs consumers and the firing loop."""

from starlette.applications import Starlette

from chime_kit.service import ops_app
from chime_scheduler.entrypoints.service import Scheduler, create_service
from chime_scheduler.settings import SchedulerSettings


def create_app(settings: SchedulerSettings | None = None) -> Starlette:
    async def start() -> Scheduler:
        return await create_service(settings or SchedulerSettings())

    return ops_app(start)
