"""Fine-tuning an advisor inside the harness: training pairs made from the truth on the very prompts the evaluation
shows (examples.py), a LoRA or full fine-tuning loop that resumes after a kill (loop.py), and adapters as systems
(adapters.py: content hashes, checkpoints as a learning-curve axis)."""
