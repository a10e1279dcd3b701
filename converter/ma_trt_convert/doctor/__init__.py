"""``ma-trt-convert doctor``: what this machine has, what a target needs, how to install the rest.

``checks`` looks at each component (every import guarded, ``nvidia-smi`` with a timeout),
``requirements`` says what each target needs and for which command, ``report`` prints the table.
Only the standard library is imported at module level: the doctor runs on the plain install.
"""
