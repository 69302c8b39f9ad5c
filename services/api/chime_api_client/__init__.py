"""A typed Python client of Chime's api, generated from its OpenAPI document.

    async with ChimeClient("https://chime.internal", key) as chime:
        accepted = await chime.create_notification(NotificationIn(chat_id=42, text="hi"))
        status = await chime.get_notification(accepted.id)

`models.py` and `operations.py` are generated (`python -m chime_api_client.generate`); a test
fails when they no longer match the api.
"""

from chime_api_client.client import ChimeClient, ChimeError
from chime_api_client.models import *  # noqa: F403

__all__ = ["ChimeClient", "ChimeError"]
