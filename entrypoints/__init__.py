"""Code shipped to the Ray cluster as the Serve app's working_dir.

``ml_entrypoint`` holds the Serve app (``build_ml_service``), ``probe`` the in-replica facts,
``models`` the seeded reference models and ``timing`` the device and host clocks of a forward.
Nothing here may import the ``gpuconf`` package: this folder travels alone.
"""
