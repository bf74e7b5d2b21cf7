"""`ivr escalation worker --metrics-port`: a worker run apart from the app serves its own
/metrics (same bearer-token rule as the app), and the retries it makes against the Twilio
stand-in show there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from escalation_fixtures import (
    ACCOUNT_SID,
    FROM_NUMBER,
    add_customer_with_contacts,
    make_service,
)
from escalation_fixtures import AUTH_TOKEN as TWILIO_TOKEN
from test_metrics import parse, value
from twilio_standin import TwilioStandIn

from carestore import Store
from emergency_contact.records import Trigger

IVR = Path(sys.executable).with_name("ivr")
TOKEN = "worker-metrics-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_serves_its_own_metrics(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    store = Store(url)
    store.upgrade()
    svc = make_service(store)
    cid, _ = add_customer_with_contacts(
        store, svc, [{"name": "A", "relationship": "daughter", "phone": "+441632960011"}]
    )
    port = _free_port()
    with TwilioStandIn(ACCOUNT_SID, TWILIO_TOKEN) as standin:
        standin.fail("Calls", 500, times=2)  # two failed attempts, then the call is placed
        env = dict(
            os.environ,
            IVR_DATA_DIR=str(tmp_path),
            IVR_DATABASE_URL=url,
            IVR_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            IVR_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            IVR_TWILIO_FROM_NUMBER=FROM_NUMBER,
            IVR_TWILIO_API_BASE_URL=standin.base_url,
            IVR_METRICS_TOKEN=TOKEN,
            IVR_HOST="127.0.0.1",
        )
        cmd = [str(IVR), "escalation", "worker", "--poll", "0.05", "--metrics-port", str(port)]
        cmd += ["--timing", '{"retry_base_s": 0.05, "answer_wait_s": 60}']
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            svc.trigger(None, cid, Trigger("kiosk_button"), channel="kiosk", actor="staff")
            standin.wait_for(lambda: standin.created("Calls"), timeout=60, what="a created call")
            base = f"http://127.0.0.1:{port}/metrics"
            deadline = time.monotonic() + 30
            while True:
                try:
                    refused = httpx.get(base, timeout=5)
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, proc.stdout.read().decode()
                    assert time.monotonic() < deadline, "the worker's metrics never came up"
                    time.sleep(0.2)
            assert refused.status_code == 401
            answer = httpx.get(base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            assert answer.status_code == 200
            samples = parse(answer.text)
            assert value(samples, "ivr_notification_retries_total", channel="call") == 2
        finally:
            proc.terminate()
            proc.wait(timeout=20)
