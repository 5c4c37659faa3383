"""The NumPy twin of gdcore's compiled core.

Every kernel of the C++ core has a function here with the same name and arguments, written as
plainly as NumPy allows. It is the reference the tests hold the core to, and the version to read
when learning how an update works. tests/test_mirror_names.py checks the names and arguments
(and lists, with reasons, the few callables of the core that have no twin).
"""
