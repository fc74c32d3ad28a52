"""The defect-detection matrix: proof that every scenario can fail.

The audit runs once against the correct reference target (every scenario must pass) and once per
defect of docs/scenarios.md, switched on alone, with the smallest set of scenarios that answers "is this
defect caught?" (the scenarios docs/scenarios.md names for it). A defect is *detected* when every one of
them fails; a scenario that does not pass on the correct target is a *false positive*.
"""
