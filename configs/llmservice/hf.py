"""Label-free estimation with real models: local Hugging Face folders as the services and a task
folder of JSONL files (``<task>.jsonl``, lines ``{"question": ..., "answers": [...]}``).

Run:  jaxrec run llmservice/hf --set services='["/models/a","/models/b"]' --set task_folder=/data/tasks
Each task needs demo_pool (20) + num_examples (200) lines; 5 task folds need >= 5 tasks.
"""

from jaxrec.llmservice.config import LLMServiceExperiment
from jaxrec.llmservice.evaluate import EstimationConfig


def get_config(arg: str | None = None) -> LLMServiceExperiment:
    return LLMServiceExperiment(
        name="llmservice-hf",
        world="hf",
        services=("REPLACE_WITH_HF_FOLDER",),
        task_folder="REPLACE_WITH_TASK_FOLDER",
        estimation=EstimationConfig(n_iter=20, n_jobs=2),
        sample_study=(50, 100, 200),
    )
