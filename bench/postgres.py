"""Rows per second into PostgreSQL through a rule's postgres action, beside
`psql \\copy` of the same rows (bench/postgres.sh; BENCHMARKS.md).

A PostgreSQL 15 is started here (tests/integration/pg_peer.py: initdb, pg_ctl,
a private port; fsync and synchronous_commit off for all three runs alike), and
ROWS rows like a reading's (device, ts, temp, run) are written three ways:

  copy      psql \\copy of a TSV file of the rows: the reference
  drain     Ironbridge's action with the rows already in its disk queue (the
            server was down while they were published), from the first row in
            the table to the last: the action's own rate
  live      the rows published (mosquitto_pub -l, QoS 0) while the server is up,
            from the first publish until the last row is in the table
"""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import ibharness as h  # noqa: E402
import pg_peer  # noqa: E402

ROWS = int(os.environ.get("ROWS", "200000"))
BATCH = int(os.environ.get("BATCH_ROWS", "5000"))
COLUMNS = '["device text", "ts timestamptz", "temp double precision", "run boolean"]'


def rows_jsonl(path):
    with open(path, "w") as f:
        for i in range(ROWS):
            f.write(json.dumps({"device": "plc%d" % (i % 10), "ts": 1733400000000 + i, "temp": 20 + (i % 1000) / 100,
                                "run": i % 2 == 0}, separators=(",", ":")) + "\n")


def rows_tsv(path):
    with open(path, "w") as f:
        for i in range(ROWS):
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((1733400000000 + i) // 1000))
            f.write("plc%d\t%s.%03d+00\t%s\t%s\n" % (i % 10, ts, i % 1000, repr(20 + (i % 1000) / 100),
                                                     "t" if i % 2 == 0 else "f"))


def exact_count(pg, table):
    # 0 while the action has not created the table yet.
    return int(pg.psql("SELECT CASE WHEN to_regclass('%s') IS NULL THEN 0 ELSE (xpath('/row/c/text()',"
                       " query_to_xml('SELECT count(*) AS c FROM %s', false, true, '')))[1]::text::int END"
                       % (table, table))[0][0])


def wait_rows(pg, table, timeout=600):
    """(when rows were first seen, how many then, when the last arrived)."""
    deadline = time.monotonic() + timeout
    first, seen = None, 0
    while time.monotonic() < deadline:
        n = exact_count(pg, table)
        if n > 0 and first is None:
            first, seen = time.monotonic(), n
        if n >= ROWS:
            return first, seen, time.monotonic()
        time.sleep(0.02)
    raise SystemExit("%s: only %d of %d rows arrived" % (table, exact_count(pg, table), ROWS))


def metric(b, name):
    status, _, body = b.http_get("/metrics")
    m = re.search(r"^%s\{[^}]*\} (\S+)$" % name, body.decode(), re.M)
    return float(m.group(1)) if m else None


def broker(pg, table):
    rule = '''
[[rules]]
id = "bench"
sql = %s
[[rules.actions]]
postgres = { dsn = "%s", table = "%s", create = true, batch_rows = %d, retry_max_ms = 500, columns = %s }
''' % (json.dumps('SELECT device, ts, temp, run FROM "bench/pg"'), pg.dsn(), table, BATCH, COLUMNS)
    b = h.Broker(extra_toml=rule)
    b.start()
    return b


def publish(b, path):
    with open(path, "rb") as f:
        subprocess.run(["mosquitto_pub", "-h", h.HOST, "-p", str(b.port), "-t", "bench/pg", "-q", "0", "-l"],
                       stdin=f, check=True, timeout=600)


def main():
    os.environ.setdefault("IRONBRIDGE_BIN", os.path.join(HERE, "..", "build", "ironbridge"))
    pg = pg_peer.PostgresServer()
    work = pg.dir
    jsonl, tsv = os.path.join(work, "rows.jsonl"), os.path.join(work, "rows.tsv")
    rows_jsonl(jsonl)
    rows_tsv(tsv)
    os.chmod(work, 0o755)
    for p in (jsonl, tsv):
        os.chmod(p, 0o644)
    results = {}
    try:
        # copy: the reference.
        pg.psql("CREATE TABLE ref (device text, ts timestamptz, temp double precision, run boolean)")
        t0 = time.monotonic()
        subprocess.run([os.path.join(pg_peer.BIN, "psql"), "-X", "-q", "-h", pg.dir, "-p", str(pg.port), "-U", pg_peer.USER,
                        "-d", "postgres", "-c", "\\copy ref FROM '%s'" % tsv], check=True, timeout=600)
        results["copy"] = ROWS / (time.monotonic() - t0)
        assert exact_count(pg, "ref") == ROWS

        # drain: the rows queued while the server is down, then written.
        pg.stop()
        b = broker(pg, "drained")
        try:
            publish(b, jsonl)
            deadline = time.monotonic() + 600
            while metric(b, "ib_rule_postgres_queued_rows") != ROWS:
                if time.monotonic() > deadline:
                    raise SystemExit("only %s rows queued" % metric(b, "ib_rule_postgres_queued_rows"))
                time.sleep(0.1)
            pg.start()
            # From the first row in the table to the last: the action's own
            # rate, not how soon its back-off notices the server is back.
            first, seen, last = wait_rows(pg, "drained")
            results["drain"] = (ROWS - seen) / (last - first)
        finally:
            b.close()

        # live: published while the server is up.
        b = broker(pg, "live")
        try:
            h.wait_until(lambda: metric(b, "ib_rule_postgres_connected") is not None, timeout=10)
            t0 = time.monotonic()
            publish(b, jsonl)
            results["live"] = ROWS / (wait_rows(pg, "live")[2] - t0)
        finally:
            b.close()
    finally:
        pg.close()
    print("rows: %d, batch_rows: %d" % (ROWS, BATCH))
    print("%-44s %12s" % ("into PostgreSQL 15 (same machine, fsync off)", "rows/s"))
    print("%-44s %12.0f" % ("psql \\copy of a TSV file (reference)", results["copy"]))
    print("%-44s %12.0f" % ("ironbridge postgres action, from its queue", results["drain"]))
    print("%-44s %12.0f" % ("ironbridge postgres action, live (mosquitto_pub)", results["live"]))


if __name__ == "__main__":
    main()
