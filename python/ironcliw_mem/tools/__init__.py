"""The tools that measure and show the library: the `ironcliw-mem` command (`cli`: info, status,
profile, stress, serve), the memory `profiler`, the live `dashboard` and the profile `plot`.

The library never imports this package; it imports the library.
"""
