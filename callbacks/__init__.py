"""Keras's callbacks for kerasish: `from kerasish.callbacks import EarlyStopping`.

TensorBoard's module imports torch.utils.tensorboard only when a TensorBoard callback
writes, so importing this package stays cheap.
"""

from kerasish.callbacks.backup_and_restore import BackupAndRestore
from kerasish.callbacks.callback import Callback
from kerasish.callbacks.callback_list import CallbackList
from kerasish.callbacks.csv_logger import CSVLogger
from kerasish.callbacks.early_stopping import EarlyStopping
from kerasish.callbacks.history import History
from kerasish.callbacks.lambda_callback import LambdaCallback
from kerasish.callbacks.learning_rate_scheduler import LearningRateScheduler
from kerasish.callbacks.model_checkpoint import ModelCheckpoint
from kerasish.callbacks.monitor import MonitorCallback
from kerasish.callbacks.one_cycle import OneCycle
from kerasish.callbacks.progbar_logger import ProgbarLogger
from kerasish.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from kerasish.callbacks.remote_monitor import RemoteMonitor
from kerasish.callbacks.swap_ema_weights import SwapEMAWeights
from kerasish.callbacks.tensorboard import TensorBoard, log_activations
from kerasish.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "MonitorCallback", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "TensorBoard", "log_activations", "CSVLogger", "TerminateOnNaN",
    "LambdaCallback", "BackupAndRestore", "OneCycle", "SwapEMAWeights", "RemoteMonitor",
]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
