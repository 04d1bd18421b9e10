"""Writing TensorBoard event files: scalars, text and purge marks, through tensorboard's own
event-file writer (no TensorFlow, no torch).

Imported only by a run that writes curves: tensorboard takes about 0.4 s to import.
"""

import atexit
import time

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


class EventWriter:
    """One event file in ``directory``; written in the background, on disk at least every
    ``flush_seconds``, at each :meth:`flush` and at :meth:`close` (also at exit, so an
    interrupted run keeps what it had written)."""

    def __init__(self, directory, flush_seconds):
        self.directory = directory
        self._file = EventFileWriter(str(directory), flush_secs=flush_seconds, filename_suffix=".corenn")
        self._closed = False
        atexit.register(self.close)

    def _add(self, step, **fields):
        self._file.add_event(event_pb2.Event(wall_time=time.time(), step=step, **fields))

    def scalar(self, tag, value, step):
        value = summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
        self._add(step, summary=summary_pb2.Summary(value=[value]))

    def text(self, tag, text, step):
        """``text`` shown as it is (a code block in TensorBoard's markdown) in the Text tab."""
        markdown = "\n".join(f"    {line}" for line in text.splitlines())
        metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
        tensor = tensor_pb2.TensorProto(
            dtype="DT_STRING",
            string_val=[markdown.encode("utf-8")],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]),
        )
        value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
        self._add(step, summary=summary_pb2.Summary(value=[value]))

    def purge_from(self, step):
        """Tell TensorBoard to drop every value an earlier session wrote at ``step`` or later."""
        self._add(step, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._closed:
            self._closed = True
            self._file.close()
            atexit.unregister(self.close)
