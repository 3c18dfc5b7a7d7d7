"""Lightning's DAG example app: a scheduled DAG of parallel model Works.

Lightning's version downloads a data set and trains scikit-learn models through its
TracerPythonScript component; here small Works of our own stand in for those steps
(least-squares fits with the standard library), and the scheduler stops the App once
the first DAG has completed. Everything else (structures.Dict of parallel Works,
structures.List of Flows appended while the App runs, ``schedule``, ``work.stop()``,
reacting to live state) is as in Lightning's app. Run it with
``payloadkit run examples/lightning/dag.py``.
"""

import random

import payloadkit.lightning as L
from payloadkit.lightning.storage import Payload
from payloadkit.lightning.structures import Dict, List


class GetDataWork(L.LightningWork):
    """Makes a small data set and stores it with a Payload."""

    def __init__(self):
        super().__init__()
        self.df_data = None
        self.df_target = None

    def run(self):
        print("Starting data collection...")
        rng = random.Random(0)
        xs = [rng.uniform(0, 10) for _ in range(200)]
        self.df_data = Payload(xs)
        self.df_target = Payload([3 * x + 1 + rng.gauss(0, 1) for x in xs])
        print("Finished data collection.")


class SplitWork(L.LightningWork):
    """Splits the data into a train and a test part (Lightning's processing script)."""

    def __init__(self):
        super().__init__()
        self.X_train = None
        self.X_test = None
        self.y_train = None
        self.y_test = None

    def run(self, df_data: Payload, df_target: Payload):
        xs, ys = df_data.value, df_target.value
        cut = len(xs) * 3 // 4
        self.X_train, self.X_test = Payload(xs[:cut]), Payload(xs[cut:])
        self.y_train, self.y_test = Payload(ys[:cut]), Payload(ys[cut:])


class ModelWork(L.LightningWork):
    """Fits one model and reports its test error in its state."""

    def __init__(self, model_name: str, parallel: bool):
        super().__init__(parallel=parallel)
        self.model_name = model_name
        self.test_rmse = None

    def run(self, X_train: Payload, X_test: Payload, y_train: Payload, y_test: Payload):
        print(f"Starting training and evaluating {self.model_name}...")
        xs, ys = X_train.value, y_train.value
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        if self.model_name == "LinearRegression":
            slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mean_x) ** 2 for x in xs
            )
        else:  # "Mean": always predicts the mean
            slope = 0.0
        predictions = [mean_y + slope * (x - mean_x) for x in X_test.value]
        errors = [(p - y) ** 2 for p, y in zip(predictions, y_test.value, strict=True)]
        self.test_rmse = (sum(errors) / len(errors)) ** 0.5
        print(f"Finished training and evaluating {self.model_name}.")


class DAG(L.LightningFlow):
    """This component is a DAG."""

    def __init__(self, models_paths: list):
        super().__init__()
        # Step 1: Create a work to get the data.
        self.data_collector = GetDataWork()

        # Step 2: Create a work to split the data.
        self.processing = SplitWork()

        # Step 3: Create the works to train the models in parallel.
        self.dict = Dict(**{name: ModelWork(name, parallel=True) for name in models_paths})

        # Step 4: Some element to track components progress.
        self.has_completed = False
        self.metrics = {}

    def run(self):
        # Step 1 and 2: Get and split the data.
        self.data_collector.run()
        self.processing.run(
            df_data=self.data_collector.df_data,
            df_target=self.data_collector.df_target,
        )

        # Step 3: Launch the model trainings in parallel.
        for model, work in self.dict.items():
            work.run(
                X_train=self.processing.X_train,
                X_test=self.processing.X_test,
                y_train=self.processing.y_train,
                y_test=self.processing.y_test,
            )
            if work.test_rmse:  # Use the state to control when to collect and stop.
                self.metrics[model] = work.test_rmse
                work.stop()  # Stop the model work to reduce cost

        # Step 4: Print the score of each model when they are all finished.
        if len(self.metrics) == len(self.dict):
            print(self.metrics)
            self.has_completed = True


class ScheduledDAG(L.LightningFlow):
    def __init__(self, dag_cls, **dag_kwargs):
        super().__init__()
        self.dags = List()
        self._dag_cls = dag_cls
        self.dag_kwargs = dag_kwargs

    def run(self):
        """Launch a new DAG every minute; stop once the first one has completed."""
        if self.schedule("* * * * *"):
            print("Launching a new DAG")
            self.dags.append(self._dag_cls(**self.dag_kwargs))

        for dag in self.dags:
            if not dag.has_completed:
                dag.run()
            else:
                self.stop(f"DAG completed: {sorted(dag.metrics)}")


app = L.LightningApp(ScheduledDAG(DAG, models_paths=["LinearRegression", "Mean"]))
