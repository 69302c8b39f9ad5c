"""The sender process: ops endpoints; its lifespan runs consumers and the delivery loop."""

from starlette.applications import Starlette

from chime_kit.service import ops_app
from chime_sender.entrypoints.service import Sender, create_service
from chime_sender.settings import SenderSettings


def create_app(settings: SenderSettings | None = None) -> Starlette:
    async def start() -> Sender:
        return await create_service(settings or SenderSettings())

    return ops_app(start)
