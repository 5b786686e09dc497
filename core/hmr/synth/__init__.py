"""Synthetic training data for the HMR network: Anny bodies rendered by Blender, exact labels.

``python -m core.hmr.synth.generate --out DIR --n N --seed S [--held-out]`` makes (or extends)
a dataset; ``core.hmr.synth.labels`` describes and reads what it writes. The pieces, one job
each (core venv unless said otherwise):

==================== ==========================================================================
``subjects``         pool of adult Anny bodies with random phenotypes (``core.body``)
``poses``            BSM-46 poses: CMU clips (MotionBank, 131_* held out) + in-limit sampling
``camera``           detector-like crop cameras (full-frame FOV, elevation, off-axis, jitter)
``appearance``       skin tones, hair and clothing regions on the mesh
``props``            occluders and clutter; analytic visibility of the labelled points
``backgrounds``      numpy backgrounds and floor textures
``scenes``           one sample: scene for Blender + its labels; render chunk files
``render_bpy``       the Blender side (``.venv-blender``, run as a script): Workbench renders
``compose``          render over background, JPEG/PNG written atomically
``labels``           ``labels.npz`` fields and ``meta.json``
``generate``         the command: chunks, Blender subprocesses, progress, resume
==================== ==========================================================================
"""
