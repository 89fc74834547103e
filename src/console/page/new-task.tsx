import { useEffect, useRef, useState } from 'preact/hooks';

export interface NewTaskProps {
  projectName: string;
  open: boolean;
  onClose(): void;
  onCreate(input: { title: string; description: string }): Promise<void>;
}

/** The "New task" dialog: a native modal <dialog>, so focus is trapped and Escape closes it. */
export function NewTaskDialog({ projectName, open, onClose, onCreate }: NewTaskProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [error, setError] = useState('');
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    const node = dialog.current;
    if (!node) return;
    if (open && !node.open) {
      setError('');
      node.showModal();
    }
    if (!open && node.open) node.close();
  }, [open]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!title.trim()) return setError('A task needs a title.');
    setSaving(true);
    setError('');
    try {
      await onCreate({ title: title.trim(), description: description.trim() });
      setTitle('');
      setDescription('');
      onClose();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setSaving(false);
    }
  };

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="new-task-heading" onClose={onClose}>
      <form class="dialog-form" onSubmit={submit}>
        <h2 id="new-task-heading">New task in {projectName}</h2>
        <label for="new-task-title">Title</label>
        <input id="new-task-title" name="title" required maxLength={255} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        <label for="new-task-description">Description</label>
        <textarea id="new-task-description" name="description" rows={5} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <p class="error" role="alert">
          {error}
        </p>
        <div class="dialog-buttons">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={saving}>
            Create
          </button>
        </div>
      </form>
    </dialog>
  );
}
