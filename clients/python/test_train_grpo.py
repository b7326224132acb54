#!/usr/bin/env python3
"""Tests of the Python example trainer: offline helpers, and the full loop against toy_server.py
(a Python stand-in speaking r2m.v1; the real server's end-to-end test is separate).
Run: bash generate_stubs.sh && /usr/bin/python3 -m unittest -v test_train_grpo
"""

import io
import os
import struct
import subprocess
import sys
import unittest

import toy_server
import train_grpo

STUBS = os.environ.get("R2M_PY_STUBS", os.path.join(train_grpo.HERE, "r2m_stubs"))


class HelperTests(unittest.TestCase):
    def test_gold_reward_matches_sandbox_definition(self):
        digits = [7, 3, 9, 1]
        self.assertEqual(train_grpo.gold_reward(digits, " 1 3 7 9"), 1.0)
        self.assertAlmostEqual(train_grpo.gold_reward(digits, " 1 3 7 9 !"), 4 / 5)
        self.assertAlmostEqual(train_grpo.gold_reward(digits, " 1 3 7 9<eos> 5 5"), 1.0)
        self.assertEqual(train_grpo.gold_reward(digits, ""), 0.0)
        self.assertAlmostEqual(train_grpo.gold_reward(digits, " 7 3 9 1"), 2 / 4)

    def test_group_advantages(self):
        grpo = train_grpo.group_advantages([1.0, 0.0, 0.0, 1.0], "grpo")
        self.assertAlmostEqual(sum(grpo), 0.0, places=9)
        self.assertGreater(grpo[0], 0)
        rloo = train_grpo.group_advantages([3.0, 0.0, 0.0], "rloo")
        self.assertEqual(rloo, [3.0, -1.5, -1.5])
        self.assertEqual(train_grpo.group_advantages([0.5, 0.5], "grpo"), [0.0, 0.0])

    def test_help_parses(self):
        out = subprocess.run([sys.executable, os.path.join(train_grpo.HERE, "train_grpo.py"), "--help"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("--address", out.stdout)
        self.assertIn("--api-key", out.stdout)


class ToyServerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pb = train_grpo.load_stubs(STUBS)
        cls.server, cls.port = toy_server.serve(cls.pb, api_key="secret")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(grace=None)

    def args(self, *extra):
        return train_grpo.parse_args(["--address", f"127.0.0.1:{self.port}", "--stubs", STUBS,
                                      "--timeout", "20", *extra])

    def test_train_two_steps_versions_advance(self):
        out = io.StringIO()
        history = train_grpo.train(self.args("--api-key", "secret", "--steps", "2", "--k", "3"), self.pb, out)
        self.assertEqual([h["step"] for h in history], [1, 2])
        self.assertEqual(history[1]["policyVersion"], history[0]["policyVersion"] + 1)
        self.assertEqual(history[1]["rmVersion"], history[0]["rmVersion"] + 1)
        for h in history:
            self.assertTrue(0.0 <= h["goldReward"] <= 1.0)
            self.assertIn("btLoss", h)
        self.assertIn("step 2/2", out.getvalue())

    def test_frozen_variant_never_calls_update(self):
        history = train_grpo.train(self.args("--api-key", "secret", "--steps", "1", "--variant", "vanilla"),
                                   self.pb, io.StringIO())
        self.assertNotIn("btLoss", history[0])

    def test_missing_api_key_fails_with_unauthenticated(self):
        with self.assertRaises(SystemExit) as e:
            train_grpo.train(self.args("--steps", "1"), self.pb, io.StringIO())
        self.assertIn("UNAUTHENTICATED", str(e.exception))

    def test_unknown_rollout_id_scored_in_band_error(self):
        client = train_grpo.Client(self.args(), self.pb)
        with self.assertRaises(SystemExit) as e:
            client.score(["no-such-rollout"], step=1)
        self.assertIn("no-such-rollout", str(e.exception))

    def test_generate_hidden_states_chunks_reassemble(self):
        client = train_grpo.Client(self.args(), self.pb)
        p = self.pb["policy"]
        request = p.GenerateRequest(prompts=[p.Prompt(text="sort 4 2 8 =")], samples_per_prompt=2,
                                    return_hidden_states=True)
        rows = {}
        shapes = {}
        for msg in client.policy.Generate(request, timeout=20):
            if msg.chunk_index == 0:
                shapes[msg.rollout_id] = list(msg.hidden_states_shape)
                rows[msg.rollout_id] = []
            n, width = msg.hidden_states.shape
            floats = struct.unpack(f"<{n * width}f", msg.hidden_states.data)
            rows[msg.rollout_id].extend(floats[i * width:(i + 1) * width] for i in range(n))
            if not msg.more_chunks:
                self.assertEqual(len(rows[msg.rollout_id]), shapes[msg.rollout_id][0])
        self.assertEqual(len(rows), 2)
        self.assertTrue(all(s[1] == toy_server.WIDTH for s in shapes.values()))


if __name__ == "__main__":
    unittest.main()
