"""A malformed TF_CONFIG ends in one line naming TF_CONFIG and what is wrong.

In-process and fast: TF_CONFIG is checked before any strategy is created, so
no multi-worker server starts here (tests/training/test_distribute.py runs a
real two-worker cluster).
"""

import json
import os
from unittest import mock

from absl.testing import parameterized
import tensorflow as tf

from tfp_zoo import training
from tfp_zoo.errors import ConfigError
from tfp_zoo.training import distribute

_GOOD = {"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
         "task": {"type": "worker", "index": 1}}


def _with(**changes):
  config = json.loads(json.dumps(_GOOD))
  config.update(changes)
  return json.dumps(config)


# (name, TF_CONFIG, a regex of what the message must say)
_BAD = (
    ("empty", "", "TF_CONFIG is empty"),
    ("not_json", "{'cluster': {}}", r"TF_CONFIG is not valid JSON \(.*line 1 column 2\)"),
    ("truncated_json", json.dumps(_GOOD)[:-3], "TF_CONFIG is not valid JSON"),
    ("multi_line_json", '{\n"cluster":\n', "TF_CONFIG is not valid JSON"),
    ("not_an_object", "[1, 2]", "TF_CONFIG must be a JSON object, not a JSON list"),
    ("no_cluster", json.dumps({"task": _GOOD["task"]}), 'TF_CONFIG has no "cluster"'),
    ("empty_cluster", _with(cluster={}), '"cluster" must be a non-empty object'),
    ("cluster_not_object", _with(cluster=["127.0.0.1:2222"]),
     '"cluster" must be a non-empty object'),
    ("ps_job", _with(cluster={"worker": ["a:1"], "ps": ["b:2"]}),
     'cluster job "ps" is not allowed: multi_worker_mirrored uses chief, worker'),
    ("job_not_list", _with(cluster={"worker": "127.0.0.1:2222"}),
     'cluster job "worker" must be a non-empty list of "host:port"'),
    ("job_empty", _with(cluster={"worker": []}), 'cluster job "worker" must be a non-empty'),
    ("no_port", _with(cluster={"worker": ["127.0.0.1", "127.0.0.1:2223"]}),
     r'cluster address "127.0.0.1" \("worker" task 0\) is not "host:port"'),
    ("port_not_a_number", _with(cluster={"worker": ["host:http", "h:1"]}),
     r'cluster address "host:http" .* is not "host:port" with a port in 1..65535'),
    ("port_too_large", _with(cluster={"worker": ["h:1", "h:70000"]}),
     r'cluster address "h:70000" \("worker" task 1\)'),
    ("port_zero", _with(cluster={"worker": ["h:0", "h:1"]}), 'cluster address "h:0"'),
    ("no_host", _with(cluster={"worker": [":2222", "h:1"]}), 'cluster address ":2222"'),
    ("scheme", _with(cluster={"worker": ["grpc://h:2222", "h:1"]}),
     'cluster address "grpc://h:2222"'),
    ("address_not_a_string", _with(cluster={"worker": [2222, "h:1"]}),
     'cluster address 2222'),
    ("same_address_twice", _with(cluster={"worker": ["h:1", "h:1"]}),
     r'cluster address "h:1" is given twice \("worker" task 0 and "worker" task 1\)'),
    ("two_chiefs", _with(cluster={"chief": ["h:1", "h:2"], "worker": ["h:3"]}),
     'cluster job "chief" has 2 tasks; at most one'),
    ("only_evaluator", _with(cluster={"evaluator": ["h:1"]},
                             task={"type": "evaluator", "index": 0}),
     'cluster has no "chief" or "worker" job'),
    ("no_task", json.dumps({"cluster": _GOOD["cluster"]}), 'TF_CONFIG has no "task"'),
    ("task_not_object", _with(task="worker"), '"task" must be an object'),
    ("no_task_type", _with(task={"index": 0}), r'task "type" is missing: .*\(worker\)'),
    ("task_type_not_in_cluster", _with(task={"type": "chief", "index": 0}),
     r'task "type" "chief" is not allowed: one of the cluster\'s training jobs \(worker\)'),
    ("task_type_evaluator", _with(cluster={"worker": ["h:1"], "evaluator": ["h:2"]},
                                  task={"type": "evaluator", "index": 0}),
     'task "type" "evaluator" is not allowed.*no side-car evaluator'),
    ("no_task_index", _with(task={"type": "worker"}),
     r'task "index" is missing: cluster job "worker" has 2 tasks, so 0..1'),
    ("task_index_out_of_range", _with(task={"type": "worker", "index": 2}),
     r'task "index" 2 is out of range: cluster job "worker" has 2 tasks, so 0..1'),
    ("task_index_negative", _with(task={"type": "worker", "index": -1}),
     'task "index" -1 is out of range'),
    ("task_index_not_int", _with(task={"type": "worker", "index": "one"}),
     'task "index" "one" is out of range'),
    ("task_index_float", _with(task={"type": "worker", "index": 0.5}),
     'task "index" 0.5 is out of range'),
)


class TfConfigTest(parameterized.TestCase, tf.test.TestCase):

  def _make(self, tf_config, strategy="multi_worker_mirrored"):
    with mock.patch.dict(os.environ, {"TF_CONFIG": tf_config}):
      # Never reached for a bad TF_CONFIG: no server may start in this test.
      with mock.patch.object(tf.distribute, "MultiWorkerMirroredStrategy",
                             side_effect=AssertionError("strategy created")):
        return distribute.make_strategy(strategy)

  @parameterized.named_parameters(*_BAD)
  def test_bad_tf_config_is_one_line_naming_it(self, tf_config, expected):
    with self.assertRaisesRegex(distribute.StrategyError, expected) as caught:
      self._make(tf_config)
    message = str(caught.exception)
    self.assertStartsWith(message, "--strategy=multi_worker_mirrored: TF_CONFIG")
    self.assertNotIn("\n", message)
    self.assertIn('expected JSON like {"cluster"', message)  # what is allowed
    self.assertLess(len(message), 400)

  @parameterized.named_parameters(
      ("two_workers", _GOOD),
      ("chief_and_workers", {"cluster": {"chief": ["host-a.example.com:2222"],
                                         "worker": ["10.0.0.2:2222", "[::1]:2222"]},
                             "task": {"type": "chief", "index": 0}}),
      ("one_worker_string_index", {"cluster": {"worker": ["localhost:12345"]},
                                   "task": {"type": "worker", "index": "0"}}),
      ("evaluator_listed", {"cluster": {"worker": ["h:1"], "evaluator": ["h:2"]},
                            "task": {"type": "worker", "index": 0}, "rpc_layer": "grpc"}),
  )
  def test_good_tf_config_reaches_the_strategy(self, tf_config):
    self.assertEqual(distribute.check_tf_config(json.dumps(tf_config)), tf_config)
    with self.assertRaisesRegex(AssertionError, "strategy created"):
      self._make(json.dumps(tf_config))

  def test_unset_tf_config(self):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    with mock.patch.dict(os.environ, env, clear=True):
      with self.assertRaisesRegex(distribute.StrategyError,
                                  "needs the TF_CONFIG environment variable.*e.g."):
        distribute.make_strategy("multi_worker_mirrored")

  def test_tensorflow_errors_from_the_strategy_become_one_line(self):
    with mock.patch.dict(os.environ, {"TF_CONFIG": json.dumps(_GOOD)}):
      with mock.patch.object(tf.distribute, "MultiWorkerMirroredStrategy",
                             side_effect=ValueError("could not start\nmore lines")):
        with self.assertRaisesRegex(
            distribute.StrategyError,
            r"^--strategy=multi_worker_mirrored: cannot start this task of the TF_CONFIG "
            r"cluster \(could not start\)$"):
          distribute.make_strategy("multi_worker_mirrored")

  @parameterized.named_parameters(("default", "default"), ("one_device", "one_device"))
  def test_strategies_that_never_read_tf_config_ignore_it(self, strategy):
    # Checked against TensorFlow 2.21: these strategies (and the training loop
    # with them) never parse TF_CONFIG, so a leftover malformed one is harmless.
    for tf_config in ("not json", _with(task={"type": "worker", "index": 9})):
      with mock.patch.dict(os.environ, {"TF_CONFIG": tf_config}):
        built = distribute.make_strategy(strategy)
        self.assertTrue(distribute.is_chief(built))

  @parameterized.named_parameters(
      ("not_json", "not json", r"is not valid JSON"),
      ("not_an_object", "7", r"must be a JSON object"),
      ("bad_cluster", json.dumps({"cluster": ["h:1"]}), r'"cluster" is not a cluster'),
      ("bad_address", json.dumps({"cluster": {"worker": [5]}}), r'"cluster" is not a cluster'),
  )
  def test_mirrored_names_a_malformed_tf_config_that_tensorflow_parses(self, tf_config,
                                                                      expected):
    # tf.distribute.MirroredStrategy() parses TF_CONFIG (then ignores its cluster),
    # so a malformed one used to end in a JSONDecodeError/TypeError traceback.
    with mock.patch.dict(os.environ, {"TF_CONFIG": tf_config}):
      with self.assertRaisesRegex(
          distribute.StrategyError,
          f"^--strategy=mirrored: TF_CONFIG {expected}.*fix it or unset it$"):
        distribute.make_strategy("mirrored")

  def test_mirrored_with_a_well_formed_tf_config_builds(self):
    with mock.patch.dict(os.environ, {"TF_CONFIG": json.dumps(_GOOD)}):
      self.assertGreaterEqual(distribute.make_strategy("mirrored").num_replicas_in_sync, 1)

  def test_the_training_loop_turns_it_into_a_config_error(self):
    config = training.TrainConfig(workdir=os.path.join(self.get_temp_dir(), "w"),
                                  strategy="multi_worker_mirrored")
    with mock.patch.dict(os.environ, {"TF_CONFIG": "{"}):
      with self.assertRaisesRegex(ConfigError, "^--strategy=multi_worker_mirrored: "
                                  "TF_CONFIG is not valid JSON"):
        training.train(config)


if __name__ == "__main__":
  tf.test.main()
