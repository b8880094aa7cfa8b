"""The GPU kit (issue 20, part 4): ``prepare`` builds the wheel folder, ``run`` runs the paper rehearsal on a lent GPU."""
