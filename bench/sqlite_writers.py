# One writer against two (one per shard) on the same WAL file (BENCHMARKS.md,
# "One writer or one per shard"): 64-byte rows, synchronous=NORMAL, 3 s each;
# prints the rows committed per second.
import os, sqlite3, sys, tempfile, threading, time
def setup(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS q (k INTEGER, s INTEGER, p BLOB, PRIMARY KEY (k, s)) WITHOUT ROWID")
    db.close()
def writer(path, k, stop, counts, batch):
    db = sqlite3.connect(path, isolation_level=None, timeout=5)
    db.execute("PRAGMA synchronous=NORMAL")
    s = 0; n = 0; p = b"x" * 64
    while not stop.is_set():
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO q VALUES (?, ?, ?)", ((k, s + i, p) for i in range(batch)))
        db.execute("COMMIT")
        s += batch; n += batch
    counts[k] = n
for writers, batch in ((1, 128), (2, 64)):
    d = tempfile.mkdtemp(); path = os.path.join(d, "t.db"); setup(path)
    stop = threading.Event(); counts = {}
    ts = [threading.Thread(target=writer, args=(path, k, stop, counts, batch)) for k in range(writers)]
    [t.start() for t in ts]; time.sleep(3); stop.set(); [t.join() for t in ts]
    print("%d writer(s), %d rows per transaction each: %.0f rows/s" % (writers, batch, sum(counts.values()) / 3))
