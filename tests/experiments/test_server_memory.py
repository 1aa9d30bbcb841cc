"""The load test's memory probe on this very process: found by its listening port, its RSS sampled at a peak."""

import os
import re
import socket
import time

from pseudocolor.experiments.scripts.server_memory import MemorySampler, listening_pid, server_root


def test_the_process_listening_on_a_port_is_found():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert listening_pid(listener.getsockname()[1]) == os.getpid()
    assert server_root(os.getpid()).pid == os.getpid()  # no mlflow above pytest


def test_the_sampler_sees_a_peak_that_is_gone_by_the_end():
    sampler = MemorySampler(server_root(os.getpid())).start()
    block = bytearray(200 * 2**20)  # 200 MB, touched
    block[::4096] = b"x" * len(block[::4096])
    time.sleep(0.5)
    del block
    sampler.stop()
    assert sampler.peak_mb - sampler.before_mb > 150, sampler.report()
    assert sampler.high_water_mb is not None and sampler.high_water_mb >= sampler.peak_mb - 1
    assert re.search(rf"\(pids [^)]*\b{os.getpid()}\b", sampler.report())  # with any children, in pid order
