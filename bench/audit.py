"""Cost of the hash-chained audit log, with the naive baseline (no chain) in the same run.

    .venv/bin/python bench/audit.py [--n 400] [--threads 4] [--db sqlite|postgresql://...]

- segment writes: `Store.add_segment` (one transaction each, as calls write them) with its
  chained audit entry, against the same writes with the chain switched off; sequential, then
  `--threads` writers at once on two engines (the chain head is one lock all of them share).
- verify: `verify_store` over everything written (entries per second, records re-checked).
- purge: `purge_before` blanking every segment (segments per second).
A PostgreSQL URL gets a fresh schema that is dropped afterwards. Print only; nothing asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import carestore.calls as calls_module  # noqa: E402
from carestore import Store, upgrade  # noqa: E402
from carestore.audit_verify import verify_store  # noqa: E402
from carestore.retention import purge_before  # noqa: E402
from carestore.timeutil import utcnow  # noqa: E402


@contextmanager
def database(choice: str) -> Iterator[str]:
    """A migrated, empty database URL (a temporary SQLite file or a fresh PostgreSQL schema)."""
    if choice == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            upgrade(url)
            yield url
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(choice)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conninfo = dict(host=base.host, port=base.port, user=base.username, password=base.password)
    with psycopg.connect(dbname=base.database, autocommit=True, **conninfo) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(dbname=base.database, autocommit=True, **conninfo) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def chain(enabled: bool) -> Iterator[None]:
    """The segment writes with (ours) or without (naive baseline) their chained entry."""
    original = calls_module.chain_segment
    if not enabled:
        calls_module.chain_segment = lambda *_args, **_kw: None
    try:
        yield
    finally:
        calls_module.chain_segment = original


def write_segments(stores: list[Store], threads: int, n: int, tag: str) -> float:
    """Seconds for `threads` writers (spread over `stores`) to add `n` segments each."""
    for k in range(threads):
        stores[0].start_call(f"CA-{tag}-{k}", "phone")
    barrier = threading.Barrier(threads + 1)

    def writer(store: Store, k: int) -> None:
        barrier.wait()
        for i in range(n):
            store.add_segment(f"CA-{tag}-{k}", "caller", f"segment {i} of writer {k}", intent="x")

    workers = [
        threading.Thread(target=writer, args=(stores[k % len(stores)], k)) for k in range(threads)
    ]
    for w in workers:
        w.start()
    start = time.perf_counter()
    barrier.wait()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def measure(url: str, n: int, threads: int, enabled: bool) -> dict[str, float]:
    """ms per segment, sequential and with `threads` writers, on a fresh database."""
    stores = [Store(url), Store(url)]
    try:
        with chain(enabled):
            return {
                "sequential": write_segments(stores, 1, n, "seq") / n * 1000,
                "concurrent": write_segments(stores, threads, n, "con") / (threads * n) * 1000,
            }
    finally:
        for s in stores:
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="segments per writer")
    parser.add_argument("--threads", type=int, default=4, help="concurrent writers")
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    results = {}
    for mode, enabled in (("naive (no chain)", False), ("ours (chained)", True)):
        with database(args.db) as url:
            results[mode] = measure(url, args.n, args.threads, enabled)
            if not enabled:
                continue
            store = Store(url)
            try:
                start = time.perf_counter()
                report = verify_store(store)
                verify_s = time.perf_counter() - start
                start = time.perf_counter()
                purged = purge_before(store, utcnow())
                purge_s = time.perf_counter() - start
                after = verify_store(store)
                dialect = store.dialect
            finally:
                store.close()
    print(f"database: {dialect}; {args.n} segments per writer, {args.threads} concurrent writers")
    for label in ("sequential", "concurrent"):
        naive, ours = results["naive (no chain)"][label], results["ours (chained)"][label]
        print(
            f"  {label:>10}: naive {naive:6.2f} ms/segment ({1000 / naive:5.0f}/s), "
            f"chained {ours:6.2f} ms/segment ({1000 / ours:5.0f}/s): x{ours / naive:.2f}"
        )
    print(
        f"  verify: {report.entries} entries, {report.records_checked} records re-checked in "
        f"{verify_s:.2f} s ({report.entries / verify_s:.0f} entries/s), ok={report.ok}"
    )
    print(
        f"  purge: {purged.segments} segments in {purge_s:.2f} s "
        f"({purged.segments / purge_s:.0f} segments/s); verify after the purge ok={after.ok}"
    )


if __name__ == "__main__":
    main()
