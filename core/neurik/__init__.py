"""NeurIK: neural inverse kinematics from marker sequences to BSM-46 joint angles."""
