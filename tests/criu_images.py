"""CRIU image bytes taken from a real podman 5.4 / CRIU 4.2.1 checkpoint, for the archive reader's tests."""

# checkpoint/pstree.img and stats-dump of a container running sh -> (sleep, perl).
PSTREE_IMG = bytes.fromhex(
    "19435654 30302750"  # magics: common image, pstree
    + " 0a000000 08011000180120012801 0a000000 08031001180120012803 0a000000 08041001180120012804")
STATS_DUMP = bytes.fromhex(
    "40591055 06330957 26000000"  # magics: service image, stats; entry size
    + " 0a2408fd950610c2940418961c20ee0e28a006300038e8054000480050145814600068007000")
