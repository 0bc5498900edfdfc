#!/usr/bin/python3
"""torchrun (python3 -m torch.distributed.run), with the one fix Debian 12's torch 1.13 needs on Python 3.11.

There, torchrun fails before starting any worker ("'NoneType' object has no attribute 'get'" in
multiprocessing/api.py to_map): Python 3.11 changed the enum behind --redirects / --tee, so their default
parses to None. This passes "no redirection" instead and runs torchrun's own main. Newer torch runs as is.

    /usr/bin/python3 tools/dist/torchrun.py --nproc_per_node 2 --no_python ./adept train ...
"""
import sys

import torch.distributed.elastic.multiprocessing as elastic_mp
import torch.distributed.elastic.multiprocessing.api as elastic_api

_to_map = elastic_api.to_map


def to_map(val_or_map, local_world_size):
    return _to_map(elastic_api.Std.NONE if val_or_map is None else val_or_map, local_world_size)


elastic_api.to_map = to_map
elastic_mp.to_map = to_map

from torch.distributed.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
