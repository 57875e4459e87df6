"""aerec on the distributed engines people already run: MPI for data-parallel training (``mpi``)."""
