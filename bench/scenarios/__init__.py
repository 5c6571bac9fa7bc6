"""The conversation scenario suite: scenario files (en.yml, zh.yml; format in README.md) and their runner.

`python -m bench.scenarios --help`. Modules: `spec` (reading and validating the files), `runner` (a
scenario through a running stack), `checks` (judging what was recorded), `report` (totals and tables),
`cli` (the command); bench/stack.py starts and stops the stack.
"""
