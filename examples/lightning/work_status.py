"""Lightning's Work status docs app: a Work's stages as the looping Flow sees them.

As in Lightning's docs, the Work fails on its second call and, with
``raise_exception=False``, the failure shows in its status instead of ending the App.
Lightning's app never exits; this one stops once it has seen the failure. Run it with
``payloadkit run examples/lightning/work_status.py``.
"""

from time import sleep

import payloadkit.lightning as L


class Work(L.LightningWork):
    def run(self, value: int):
        sleep(1)
        if value == 0:
            return
        raise Exception(f"The provided value was {value}")


class Flow(L.LightningFlow):
    def __init__(self):
        super().__init__()
        self.work = Work(raise_exception=False)
        self.counter = 0

    def run(self):
        if not self.work.has_started:
            print("NOT STARTED")

        elif self.work.is_pending:
            print("PENDING")

        elif self.work.is_running:
            print("RUNNING")

        elif self.work.has_succeeded:
            print("SUCCESS")

        elif self.work.has_failed:
            print("FAILED")
            self.stop(f"stopped after: {self.work.status.message}")

        elif self.work.has_stopped:
            print("STOPPED")
            self.stop()

        print(self.work.status)
        self.work.run(self.counter)
        self.counter += 1


app = L.LightningApp(Flow())
