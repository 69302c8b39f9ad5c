"""Each service's role owns its schema and cannot read another service's."""

import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest

from chime_kit.migrator import migrate
from chime_kit.provision import provision

pytestmark = pytest.mark.integration


def as_role(database_url: str, role: str) -> str:
    parts = urlsplit(database_url)
    return parts._replace(netloc=f"{role}:pw@{parts.hostname}:{parts.port or 5432}").geturl()


@pytest.fixture
async def roles(database_url):
    suffix = uuid.uuid4().hex[:8]
    names = {"demo": f"chime_demo_{suffix}", "other": f"chime_other_{suffix}"}
    admin = await asyncpg.connect(database_url)
    try:
        for schema, role in names.items():
            await provision(admin, schema, role, "pw")
        yield names
    finally:
        for role in names.values():
            await admin.execute(f'DROP OWNED BY "{role}" CASCADE')
        await admin.close()
        admin = await asyncpg.connect(urlsplit(database_url)._replace(path="/postgres").geturl())
        for role in names.values():
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_a_service_role_migrates_its_schema_and_cannot_read_another(database_url, roles):
    other = await asyncpg.connect(as_role(database_url, roles["other"]))
    await migrate(other, "other", "fake_service_migrations")
    await other.execute("INSERT INTO other.notes (id, body) VALUES ('1', 'private')")
    await other.close()

    demo = await asyncpg.connect(as_role(database_url, roles["demo"]))
    try:
        applied = await migrate(demo, "demo", "fake_service_migrations")
        assert "kit/0001_event_store_outbox_inbox" in applied
        await demo.execute("INSERT INTO notes (id, body) VALUES ('1', 'mine')")  # search_path
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await demo.fetch("SELECT * FROM other.notes")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await demo.execute("CREATE SCHEMA sneaky")
    finally:
        await demo.close()


async def test_provisioning_twice_is_harmless(database_url, roles):
    admin = await asyncpg.connect(database_url)
    try:
        await provision(admin, "demo", roles["demo"], None)
        owner = await admin.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'demo'"
        )
        assert owner == roles["demo"]
    finally:
        await admin.close()
