"""Run on a lab host by the demo: copy a signed checkpoint archive (with its signature and manifest) and flip one
byte in the middle of the copy's first memory pages image (checkpoint/pages-N.img); print that member's name."""
import os
import re
import shutil
import sys
import tarfile

PAGES = re.compile(r"^(\./)?checkpoint/pages-\d+\.img$")


def private_copy(source, copy):
    """Copy checkpoint data into a file that is 0600 from its creation (it is a memory dump)."""
    with open(source, "rb") as data:
        with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
    os.chmod(copy, 0o600)


def main(source, copy):
    private_copy(source, copy)
    for suffix in (".sig", ".manifest.json", ".manifest.json.sig"):
        shutil.copyfile(source + suffix, copy + suffix)
    with tarfile.open(copy) as tar:
        member = next(member for member in tar if member.size and PAGES.match(member.name))
    with open(copy, "r+b") as handle:
        handle.seek(member.offset_data + member.size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    print(member.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
