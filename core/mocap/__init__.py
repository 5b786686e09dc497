"""Real motion capture in: readers for the common CMU conventions, retargeting onto BSM-46, the
held-out evaluation list and the motion bank built from the rest."""
