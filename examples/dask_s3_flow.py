"""A flow on a Dask cluster whose Works hand DataFrames to each other through an S3 bucket.

Run it against your own bucket and cluster::

    python examples/dask_s3_flow.py s3://my-bucket/payloads --scheduler tcp://scheduler:8786

or against any S3-compatible server with ``--endpoint-url http://127.0.0.1:9000``. Without
``--scheduler`` it starts a LocalCluster of two worker processes on 127.0.0.1.

Credentials come from the environment or AWS's usual files, as for s3fs. They never travel
in a payload, a Work's state or a run record: the App gives each Dask worker the store's URL
and storage options, and the worker opens the store itself. Only refs cross the cluster;
the bytes go through the bucket.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd

import payloadkit as pk


class Measure(pk.Work):
    """One sensor's readings for a day: a DataFrame, handed over as `frame` (the default)."""

    def __init__(self, sensor: int) -> None:
        super().__init__(parallel=True)  # both sensors are read at once, on two workers
        self.sensor = sensor
        self.readings: pk.Payload | None = None

    def run(self, rows: int) -> None:
        rng = np.random.default_rng(self.sensor)
        frame = pd.DataFrame(
            {
                "sensor": np.full(rows, self.sensor),
                "minute": np.arange(rows),
                "celsius": rng.normal(20.0 + self.sensor, 2.0, rows),
            }
        )
        self.readings = pk.Payload(frame)
        print(f"sensor {self.sensor}: {rows} readings")


class Summarize(pk.Work):
    """Loads both sensors' frames from the bucket and keeps a summary, as Arrow IPC."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: pk.Payload | None = None

    def run(self, first: pk.Payload, second: pk.Payload) -> None:
        frames = pd.concat([first.value, second.value], ignore_index=True)
        table = frames.groupby("sensor")["celsius"].agg(["count", "mean", "min", "max"])
        self.summary = pk.Payload(table.reset_index(), serializer="arrow")
        print(f"summarized {len(frames)} readings")


class Station(pk.Flow):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.north, self.south = Measure(0), Measure(1)
        self.summarize = Summarize()

    def run(self) -> None:
        self.north.run(self.rows)
        self.south.run(self.rows)
        # Passing a parallel Work's payload waits for that Work to finish.
        self.summarize.run(first=self.north.readings, second=self.south.readings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage", help="an s3:// URL (any fsspec URL every worker reaches)")
    parser.add_argument("--endpoint-url", help="an S3-compatible server's address")
    parser.add_argument("--scheduler", help="a Dask scheduler address (default: a LocalCluster)")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.endpoint_url:
        options["client_kwargs"] = {"endpoint_url": args.endpoint_url}

    from distributed import Client, LocalCluster

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
    with client:
        flow = Station(args.rows)
        app = pk.App(flow, storage=args.storage, storage_options=options, executor=client)
        started = time.perf_counter()
        record = app.run()
        print(
            f"run {record['run_id']} {record['outcome']} in {time.perf_counter() - started:.1f} s"
        )
        print(flow.summarize.summary.value.to_string(index=False))  # loaded here, from S3
        for manifest in app.store().manifests():
            meta = manifest.ref
            print(f"{meta.digest[:19]}  {meta.serializer:<8} {meta.size:>9,d} B  {meta.type}")
        if not args.scheduler:
            cluster.close()


if __name__ == "__main__":
    main()
