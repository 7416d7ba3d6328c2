"""Method-agnostic training core: mesh and sharding rules, TrainState, the compiled step,
optimizers, checkpoints and the loop."""

from jaxrec.train.checkpoint import Checkpoint, Checkpointer, CheckpointError
from jaxrec.train.lock import RunFolderLocked, RunLock
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.loop import BatchSource, FitResult, LoopConfig, NonFiniteError, fit, place_batch
from jaxrec.train.mesh import (
    DEFAULT_RULES,
    MeshConfig,
    batch_sharding,
    make_mesh,
    mesh_context,
    replicated,
)
from jaxrec.train.optim import OptimizerConfig, make_optimizer, make_schedule
from jaxrec.train.plateau import PlateauState, lr_scale, reduce_lr_on_plateau, scale_by_plateau
from jaxrec.train.run import (
    ConfigMismatchError,
    ExperimentConfig,
    ExperimentSetup,
    RunFolderError,
    fit_experiment,
    run_folder,
)
from jaxrec.train.stage import StageSetup, build_stage, train_stage
from jaxrec.train.state import LoopState, TrainState
from jaxrec.train.step import (
    LossFn,
    compile_train_step,
    init_train_state,
    make_train_step,
    split_model,
    train_state_from_model,
)

__all__ = [
    "DEFAULT_RULES",
    "BatchSource",
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "ConfigMismatchError",
    "ExperimentConfig",
    "ExperimentSetup",
    "FitResult",
    "LoopConfig",
    "LoopState",
    "LossFn",
    "MeshConfig",
    "NonFiniteError",
    "OptimizerConfig",
    "PlateauState",
    "RunFolderError",
    "RunFolderLocked",
    "RunLock",
    "StageSetup",
    "TrainState",
    "batch_sharding",
    "build_stage",
    "compile_train_step",
    "fit",
    "fit_experiment",
    "train_stage",
    "init_train_state",
    "make_mesh",
    "make_optimizer",
    "make_schedule",
    "make_train_step",
    "lr_scale",
    "reduce_lr_on_plateau",
    "scale_by_plateau",
    "mesh_context",
    "place_batch",
    "replicated",
    "run_folder",
    "split_model",
    "train_state_from_model",
    "write_json_atomic",
]
