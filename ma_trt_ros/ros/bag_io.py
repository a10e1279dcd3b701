"""ROS 2 bags (sqlite3 or mcap) with ``rosbags``: image messages in, our result messages out.

Messages cross this module as CDR bytes (what bags hold and what rclpy publishes and serialises),
so reading and replaying do not decode images. Our own message types are registered in the rosbags
typestore from the ``.msg`` files that the ``ma_trt_ros_interfaces`` build installs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_TYPE = "sensor_msgs/msg/Image"
INTERFACE_TYPES = ("Matches", "DenseCorrespondence")
BAG_FORMAT_VERSION = 9


@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: topic, receive time (ns, the bag's timestamp), CDR bytes."""

    topic: str
    time_ns: int
    cdr: bytes


def interface_share_dir() -> Path:
    """``share/ma_trt_ros_interfaces`` of the installed interfaces (ament index, else next to the Python package)."""
    if os.environ.get("AMENT_PREFIX_PATH"):
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory("ma_trt_ros_interfaces"))
        except PackageNotFoundError:
            pass
    import ma_trt_ros_interfaces

    # <prefix>/lib/pythonX.Y/site-packages/ma_trt_ros_interfaces -> <prefix>/share/ma_trt_ros_interfaces
    prefix = Path(next(iter(ma_trt_ros_interfaces.__path__))).resolve().parents[3]
    return prefix / "share" / "ma_trt_ros_interfaces"


def typestore() -> Any:
    """rosbags Kilted typestore with ``ma_trt_ros_interfaces/msg/{Matches,DenseCorrespondence}`` registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for name in INTERFACE_TYPES:
        path = interface_share_dir() / "msg" / f"{name}.msg"
        types.update(get_types_from_msg(path.read_text(), f"ma_trt_ros_interfaces/msg/{name}"))
    store.register(types)
    return store


def image_topics(bag: str | Path) -> list[str]:
    """Topics of ``bag`` that hold ``sensor_msgs/msg/Image``."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        return sorted({c.topic for c in reader.connections if c.msgtype == IMAGE_TYPE})


def read_messages(bag: str | Path, topics: Iterable[str]) -> Iterator[BagMessage]:
    """The messages of ``topics`` in ``bag``, in bag-time order; ValueError names missing topics."""
    from rosbags.highlevel import AnyReader

    wanted = set(topics)
    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        missing = wanted - {c.topic for c in connections}
        if missing:
            present = sorted({c.topic for c in reader.connections})
            raise ValueError(f"bag {str(bag)!r} has no topic {sorted(missing)}; it has {present}")
        for connection, time_ns, cdr in reader.messages(connections=connections):
            yield BagMessage(connection.topic, time_ns, bytes(cdr))


def bag_errors() -> tuple[type[Exception], ...]:
    """The exceptions ``rosbags`` raises for a bag it cannot read or write (junk metadata, corrupt storage)."""
    from rosbags.highlevel import AnyReaderError
    from rosbags.rosbag2 import ReaderError, WriterError

    return (AnyReaderError, ReaderError, WriterError)


def check_topics(bag: str | Path, topics: Iterable[str]) -> None:
    """ValueError naming the bag's topics when ``bag`` is missing or lacks one of ``topics``."""
    from rosbags.highlevel import AnyReader

    if not Path(bag).is_dir():
        raise ValueError(f"{bag}: no such bag folder; give the folder that holds metadata.yaml")
    with AnyReader([Path(bag)]) as reader:
        present = sorted({c.topic for c in reader.connections})
    missing = sorted(set(topics) - set(present))
    if missing:
        raise ValueError(f"bag {str(bag)!r} has no topic {missing}; it has {present}")


def count_messages(bag: str | Path, topic: str) -> int:
    """Number of messages on ``topic`` in ``bag``."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        return sum(c.msgcount for c in reader.connections if c.topic == topic)


class BagWriter:
    """Write CDR messages of known types to a new bag (sqlite3, or mcap when ``storage="mcap"``).

    Use as a context manager; :meth:`write` adds a connection the first time a topic is seen.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3"):
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
        if storage not in plugins:
            raise ValueError(f"storage {storage!r}; use sqlite3 or mcap")
        self._store = typestore()
        self._writer = Writer(Path(path), version=BAG_FORMAT_VERSION, storage_plugin=plugins[storage])
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._writer.close()

    def write(self, topic: str, msgtype: str, time_ns: int, cdr: bytes) -> None:
        """Append ``cdr`` (a serialised ``msgtype``, e.g. ``sensor_msgs/msg/Image``) on ``topic`` at ``time_ns``."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self._store)
        self._writer.write(self._connections[topic], time_ns, cdr)


def write_image_bag(path: str | Path, images: Iterable[tuple[str, Any]], storage: str = "sqlite3") -> int:
    """Write ``(topic, sensor_msgs.msg.Image)`` items to a new bag, each at its header stamp; returns the count."""
    from ma_trt_ros.ros.pair_sync import stamp_to_ns

    count = 0
    with BagWriter(path, storage) as writer:
        for topic, image in images:
            writer.write(topic, IMAGE_TYPE, stamp_to_ns(image.header.stamp), serialize(image))
            count += 1
    return count


def serialize(msg: Any) -> bytes:
    """CDR bytes of an rclpy message."""
    from rclpy.serialization import serialize_message

    return serialize_message(msg)


def deserialize(cdr: bytes, msg_type: type) -> Any:
    """rclpy message of ``msg_type`` from CDR bytes."""
    from rclpy.serialization import deserialize_message

    return deserialize_message(cdr, msg_type)
