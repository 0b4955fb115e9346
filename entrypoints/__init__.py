"""Code shipped to the Ray cluster as the Serve app's working_dir.

``ml_entrypoint`` holds the Serve app (``build_ml_service``), ``probe`` the in-replica facts and
``models`` the seeded reference models. Nothing here may import the ``gpuconf`` package: this
folder travels alone.
"""
