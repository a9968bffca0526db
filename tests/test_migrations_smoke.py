from sqlalchemy import text


async def test_migrations_create_every_table(database):
    async with database.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM claim_event"))).scalar_one()
    assert count == 0
