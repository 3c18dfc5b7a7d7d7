"""Lightning's "run Works in parallel" docs app, with an end.

The parallel Work trains while the other one analyzes; the Flow keeps looping while they
run and stops when both have succeeded (Lightning's version counts forever). Run it with
``payloadkit run examples/lightning/parallel_works.py``.
"""

import payloadkit.lightning as L


class TrainComponent(L.LightningWork):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.step = 0

    def run(self, message):
        for i in range(5):
            print(message, i)
            self.step = i


class AnalyzeComponent(L.LightningWork):
    def run(self, message):
        for i in range(5):
            print(message, i)


class LitWorkflow(L.LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.train = TrainComponent(cloud_compute=L.CloudCompute("cpu"), parallel=True)
        self.analyze = AnalyzeComponent(cloud_compute=L.CloudCompute("cpu"))

    def run(self):
        self.train.run("machine 1 : training")
        self.analyze.run("machine 2 : analyzing")
        if self.train.has_succeeded and self.analyze.has_succeeded:
            self.stop("both done")


app = L.LightningApp(LitWorkflow())
