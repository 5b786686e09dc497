"""biomocap core: the BSM-46 skeleton, the subject body, and the capture pipeline."""

__version__ = "0.1.0"
