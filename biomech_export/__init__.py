"""biomech_export: BSM-46 motions to OpenSim (.osim, .mot, .trc, .sto, setups), C3D, and back.

Only numpy is imported here; ``opensim`` is imported inside the functions that need it
(install it with ``pip install 'biomocap[opensim]'``).
"""
