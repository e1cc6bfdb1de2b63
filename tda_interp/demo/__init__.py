"""The built-in demo: grokking modular addition, trained from scratch on the CPU."""

from tda_interp.demo.runner import DEMO_CONFIG, DemoResult, run_demo

__all__ = ["DEMO_CONFIG", "DemoResult", "run_demo"]
