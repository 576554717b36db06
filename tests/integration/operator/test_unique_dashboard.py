"""The dashboard's job page shows a job's unique key, escaped."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from tests.contract.conftest import spec
from tests.integration.operator.conftest import Stack
from tests.integration.operator.test_dashboard_http import log_in


async def test_job_page_shows_the_unique_key_escaped(stack: Stack) -> None:
    (job,) = await stack.service.enqueue([spec("t", unique_key="<script>alert(1)</script>")])
    (plain,) = await stack.service.enqueue([spec("t")])
    async with AsyncTestClient(app=stack.app) as client:
        await log_in(client)
        page = (await client.get(f"/dashboard/jobs/{job.id}")).text
        assert "<script>alert(1)</script>" not in page
        assert ('<dd id="job-unique-key"><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></dd>'
                in page)
        assert "job-unique-key" not in (await client.get(f"/dashboard/jobs/{plain.id}")).text
