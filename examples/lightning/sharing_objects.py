"""Lightning's "Sharing Objects between LightningWorks" example, with only its import changed.

Run it with ``payloadkit run examples/lightning/sharing_objects.py``; it exits once an
iteration of the loop changes nothing (every call is cached).
"""

import pandas as pd

import payloadkit.lightning as L


class SourceWork(L.LightningWork):
    def __init__(self):
        super().__init__()
        self.df = None

    def run(self):
        # do some processing

        df = pd.DataFrame(data={"col1": [1, 2], "col2": [3, 4]})

        # The object you care about needs to be wrapped into a Payload object.
        self.df = L.storage.Payload(df)

        # You can access the original object from the payload using its value property.
        print("src", self.df.value)
        # src  col1  col2
        # 0     1     3
        # 1     2     4


class DestinationWork(L.LightningWork):
    def run(self, df: L.storage.Payload):
        # You can access the original object from the payload using its value property.
        print("dst", df.value)
        # dst  col1  col2
        # 0     1     3
        # 1     2     4


class Flow(L.LightningFlow):
    def __init__(self):
        super().__init__()
        self.src = SourceWork()
        self.dst = DestinationWork()

    def run(self):
        self.src.run()
        # The pandas DataFrame created by the ``SourceWork``
        # is passed to the ``DestinationWork``.
        # Internally, Lightning pickles and un-pickle the python object,
        # so you receive a copy of the original object.
        self.dst.run(df=self.src.df)


app = L.LightningApp(Flow())
