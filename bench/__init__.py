"""Benchmarks of the suite (`dlm-bench`); results go to bench/results/ as JSON naming the device."""
