"""The README's Spark recipe: ``repartition(user)`` + ``mapInPandas`` calling ``score_partition`` in
local mode (local[2], bound to 127.0.0.1, no UI) gives exactly the in-process recommendations.
Skipped, with the reason, where Java or PySpark is missing (PySpark is not in the test extra)."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

import aerec
from aerec.data import IdMapper
from aerec.distributed import score_partition

pd = pytest.importorskip("pandas")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and no JAVA_HOME", allow_module_level=True)
pyspark = pytest.importorskip("pyspark", reason='PySpark is not installed: pip install "aerec[spark]"')
pytest.importorskip("pyarrow", reason='mapInPandas needs pyarrow: pip install "aerec[spark]"')

pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    root = os.path.dirname(os.path.dirname(os.path.abspath(aerec.__file__)))
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    # Spark's Python workers are this interpreter, importing this aerec (the JVM passes the environment on)
    os.environ["PYTHONPATH"] = root + (os.pathsep + saved["PYTHONPATH"] if saved["PYTHONPATH"] else "")
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("aerec-test")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    try:
        session.sparkContext.setLogLevel("ERROR")
        yield session
    finally:
        session.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_map_in_pandas_recipe_equals_in_process_recommend(spark):
    rng = np.random.RandomState(0)
    users, items = [], []
    for u in range(200):
        chosen = rng.choice(50, size=rng.randint(4, 12), replace=False)
        users += [f"u{u:03d}"] * chosen.size
        items += (1000 + chosen).tolist()
    records = pd.DataFrame({"user": users, "item": np.asarray(items, dtype=np.int64)})
    mapper = IdMapper()
    model = aerec.EASE(l2=10.0).fit(mapper.fit_transform(records))

    # the README recipe
    model_b, mapper_b = spark.sparkContext.broadcast(model), spark.sparkContext.broadcast(mapper)

    def score(batches):  # every batch of one partition; repartition(user) put each user in one partition
        frames = list(batches)
        if frames:
            yield score_partition(pd.concat(frames), model_b.value, mapper_b.value, k=10)

    sdf = spark.createDataFrame(records.sample(frac=1.0, random_state=0))
    out = (sdf.repartition(4, "user")
           .mapInPandas(score, schema="user string, rank long, item long, score float")
           .toPandas())

    got = out.astype({"user": object, "item": np.int64, "score": np.float32})
    got = got.sort_values(["user", "rank"]).reset_index(drop=True)
    want = mapper.recommend_frame(model, records, k=10).astype({"user": object, "item": np.int64})
    want = want.sort_values(["user", "rank"]).reset_index(drop=True)
    assert got.groupby("user").size().eq(10).all() and got["user"].nunique() == 200
    pd.testing.assert_frame_equal(got, want)
